"""Pages a person opens: the scoring page (Streamlit) over plain helpers that work without it."""
