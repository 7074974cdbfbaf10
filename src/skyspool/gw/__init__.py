"""Gravitational-wave alerts: sky-map products, classification, notices and circulars."""
