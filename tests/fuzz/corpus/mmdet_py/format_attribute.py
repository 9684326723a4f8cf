# expect: error line=2 attribute and index lookups in format
x = '{0.__init__.__globals__[os]}'.format(dict)
