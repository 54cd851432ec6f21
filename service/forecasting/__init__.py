"""The ML core: windowing, scaling, networks, training and inference over numpy arrays.

Nothing here imports FastAPI; TensorFlow is imported only inside the functions that need it.
"""
