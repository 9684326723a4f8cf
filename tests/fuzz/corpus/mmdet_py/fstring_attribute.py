# expect: error line=2 attribute '\.__class__'
x = f"{().__class__.__base__.__subclasses__()}"
