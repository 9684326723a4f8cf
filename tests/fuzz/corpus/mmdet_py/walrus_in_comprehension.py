# expect: error line=2 walrus
x = [(y := __import__('os').system('touch PWNED')) for _ in [1]]
