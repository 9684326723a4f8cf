# expect: error line=2 function definition
@(lambda f: __import__('os').system('touch PWNED'))
def f():
    pass
