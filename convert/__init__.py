"""digitcam: convert."""
