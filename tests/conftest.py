from hypothesis import settings

# Timings on a loaded 2-core CI machine vary: judge properties, not speed.
settings.register_profile("skasd", deadline=None)
settings.load_profile("skasd")
