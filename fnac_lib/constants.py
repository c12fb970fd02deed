"""Fixed numbers the library shares that are not settings of a run (those live on the fields of
``config``: every run's temperature, threshold and weights).
"""

TAU = 0.03  # the published temperature: the scale the reference maps of ``scoring`` are drawn at
OGL_ALPHA = 0.4  # object-guided localisation: weight of the audio-visual map (SLAVC uses 0.9)

# torchvision's ImageNet statistics, the input normalisation of every visual trunk.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
