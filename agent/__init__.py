"""rayscope.agent"""
