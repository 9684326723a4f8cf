# expect: error line=2 larger than
x = 9 ** 9 ** 9 ** 9
