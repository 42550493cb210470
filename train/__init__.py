"""digitcam: train."""
