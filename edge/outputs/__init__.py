"""digitcam: edge/outputs."""
