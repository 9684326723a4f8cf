# expect: error line=2 '\*' width
x = '%*d' % (10 ** 9, 1)
