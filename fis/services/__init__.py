"""fis/services"""
