"""The GUI process's OpenGL in one place: image textures, the mesh viewer, its orbit camera and buffers."""
