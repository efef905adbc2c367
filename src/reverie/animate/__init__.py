"""Animations: zoom sequences (:mod:`.zoom`), flow-coherent video (:mod:`.coherence`) and the
resumable store of finished video frames (:mod:`.frames`); :mod:`.metrics` measures drift and flicker.

Both zoom and video feed a dream back into the next frame, and both meet the same failure:
DeepDream favours bright, saturated patterns, so whatever is fed back gains a little exposure and
saturation each frame. Both hold each frame's colour statistics (:mod:`reverie.colour`) to a
reference: zoom to the first dreamed frame; video to the source frame's own statistics, shifted by
what dreaming did to the first frame, so a scene that darkens in the source still darkens in the dream.
"""
