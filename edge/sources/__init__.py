"""digitcam: edge/sources."""
