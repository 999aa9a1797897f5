"""The app shell: the window, its docking layout, menus, status bar, shortcuts and the render view. It wires the
panels (widgets/) to the kernel below it (viz/: state, controller, sessions, jobs), which has no imgui."""
