"""The torch modules behind the layer configurations, and their arithmetic."""
