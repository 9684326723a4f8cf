# expect: error line=2 try is not allowed
try:
    x = 1
except Exception:
    x = __import__('os').system('touch PWNED')
