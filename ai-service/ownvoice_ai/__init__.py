"""Ownvoice inference service: XTTS v2 voice cloning and Piper stock voices."""
