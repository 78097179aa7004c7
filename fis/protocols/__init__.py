"""fis/protocols"""
