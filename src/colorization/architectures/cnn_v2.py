"""CNN v2: the study's tuned Keras network: standardized input and a deeper stack of convolutions.

Compared with CNN v1 it standardizes L with the training set's mean and standard deviation (a fixed
Normalization layer, saved with the model so inference needs no extra files), has two or three
convolutions per resolution instead of one or two, batch normalization after each block, and
upsamples to full resolution before its last convolutions so the ab output is not blocky.
"""

from . import register


@register("cnn_v2", framework="keras", size_multiple=8)  # three stride-2 convolutions, three 2x upsamplings
def build(l_mean: float, l_std: float, outputs: int = 2):
    """CNN v2 standardizing its input with the training statistics of L/100. `outputs` other than 2
    replaces the tanh ab head by a head of that many logits."""
    import keras
    from keras import layers

    def conv(filters: int, strides: int = 1, activation: str = "relu"):
        return layers.Conv2D(filters, 3, strides=strides, padding="same", activation=activation)

    return keras.Sequential(
        [
            keras.Input(shape=(None, None, 1)),
            layers.Normalization(mean=l_mean, variance=l_std**2),
            conv(64),
            conv(64, strides=2),
            layers.BatchNormalization(),
            conv(128),
            conv(128, strides=2),
            layers.BatchNormalization(),
            conv(256),
            conv(256),
            conv(256, strides=2),
            layers.BatchNormalization(),
            conv(512),
            conv(512),
            conv(256),
            layers.BatchNormalization(),
            conv(128),
            layers.UpSampling2D(2),
            conv(64),
            conv(64),
            layers.BatchNormalization(),
            layers.UpSampling2D(2),
            conv(32),
            conv(32),
            layers.UpSampling2D(2),
            conv(16),
            conv(outputs, activation="tanh" if outputs == 2 else None),
        ],
        name="cnn_v2",
    )
