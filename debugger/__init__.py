"""rayscope.debugger"""
