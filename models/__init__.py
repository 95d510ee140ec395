"""The ML side: parsing, bars, features, labels, training and serving.

Runs with no Faust app at all (training, tests); `app`, `agents` and
`tables` import from here, never the other way round.
"""
