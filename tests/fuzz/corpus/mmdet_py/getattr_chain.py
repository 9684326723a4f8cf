# expect: error line=2 name 'getattr' is not defined
x = getattr(getattr(getattr((), '__class__'), '__base__'), '__subclasses__')()
