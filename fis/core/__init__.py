"""fis/core"""
