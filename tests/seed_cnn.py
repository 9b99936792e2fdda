"""The seed CNN (CIFAR shapes), built through any Keras-style module.

Shared by the API and parity tests: the same source builds the model in
``nbkeras`` and in ``keras``, as a user's script would.
"""


def seed_cnn(m, final_activation="softmax", units=10):
    """The seed CNN in module ``m`` (keras or nbkeras)."""
    L = m.layers
    return m.Sequential([
        m.Input((32, 32, 3)),
        L.Conv2D(32, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.Flatten(),
        L.Dense(64, activation="relu"),
        L.Dense(units, activation=final_activation),
    ])
