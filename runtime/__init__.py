"""rayscope.runtime"""
