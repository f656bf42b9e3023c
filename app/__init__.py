"""The Streamlit demo of minions: ``minions app`` (see :func:`minions.app.launch.launch`) or
``streamlit run app/streamlit_app.py``.

The page lives in ``streamlit_app.py``; the parts it is made of (the background run,
the settings widgets, the document inputs, the views) are plain modules beside it,
testable without a browser.
"""
