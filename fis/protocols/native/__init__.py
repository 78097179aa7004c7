"""fis/protocols/native"""
