"""rayscope.dashboard"""
