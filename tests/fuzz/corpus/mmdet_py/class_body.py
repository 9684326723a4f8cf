# expect: error line=2 class definition
class C:
    x = __import__('os').system('touch PWNED')
