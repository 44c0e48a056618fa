"""Generated from the `.proto` files by `python/tools/generate_proto.py`: do not edit."""
