"""rayscope.cli"""
