# expect: error line=2 format width
x = '{0:{1}}'.format('a', 10 ** 9)
