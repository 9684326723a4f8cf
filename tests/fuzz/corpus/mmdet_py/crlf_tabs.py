# expect: ok
model = dict(
	depth=50,
	norm=dict(type='BN'))
