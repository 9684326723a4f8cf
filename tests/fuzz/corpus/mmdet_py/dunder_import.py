# expect: error line=2 the name '__import__'
x = __import__('os').system('touch PWNED')
