"""fis/store"""
