# expect: ok
scale = (1333, 800)
pipeline = [dict(type='Resize', scale=scale, keep_ratio=True)]
lr = 0.02 / 8 * 2
name = 'r%d_%s' % (50, 'fpn')
