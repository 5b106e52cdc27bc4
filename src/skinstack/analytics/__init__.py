"""Analytics: what every party sees of its clicks, orders and money."""
