"""CNN v1: the study's Keras colorization network, layer for layer (3,892,194 trainable parameters).

An encoder of 3x3 ReLU convolutions that halves the resolution three times, a 512-256-128 middle, and a
decoder that upsamples back with a tanh ab output. The study fed it raw L; we feed L/100 like the
other architectures so that all losses share one scale.
"""

from . import register


@register("cnn_v1", framework="keras", size_multiple=8)  # three stride-2 convolutions, three 2x upsamplings
def build(l_mean: float, l_std: float, outputs: int = 2):
    """CNN v1; it does not standardize its input, so the statistics are unused. `outputs` other than 2
    replaces the tanh ab head by a head of that many logits."""
    import keras
    from keras import layers

    del l_mean, l_std

    def conv(filters: int, strides: int = 1, activation: str = "relu"):
        return layers.Conv2D(filters, 3, strides=strides, padding="same", activation=activation)

    return keras.Sequential(
        [
            keras.Input(shape=(None, None, 1)),
            conv(64),
            conv(64, strides=2),
            conv(128),
            conv(128, strides=2),
            conv(256),
            conv(256, strides=2),
            conv(512),
            conv(256),
            conv(128),
            layers.UpSampling2D(2),
            conv(64),
            layers.UpSampling2D(2),
            conv(32),
            conv(outputs, activation="tanh" if outputs == 2 else None),
            layers.UpSampling2D(2),
        ],
        name="cnn_v1",
    )
