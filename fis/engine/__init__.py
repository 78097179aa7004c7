"""fis/engine"""
