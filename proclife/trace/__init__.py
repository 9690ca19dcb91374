"""``proclife trace``: run a user's own program with the observer in every Python process it starts.

``cmdline`` checks the command line, ``loader`` prepares the ``sitecustomize`` that loads the
observer, ``record`` runs the program and collects its tree, ``build`` turns the observer's events
into a trace document, ``schema`` validates one, ``findings`` reads advice out of it and
``summary`` prints it.
"""
