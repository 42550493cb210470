"""digitcam: edge."""
