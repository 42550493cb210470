"""digitcam: calibration."""
