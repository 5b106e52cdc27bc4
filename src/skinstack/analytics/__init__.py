"""Analytics: every party's figures (stats, time series) read from rollups the worker keeps."""
