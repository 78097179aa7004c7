"""fis/demo"""
