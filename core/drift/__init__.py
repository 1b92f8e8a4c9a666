"""The drift check of the board: what people changed there since OrderSync wrote it (``check``), read
page by page and paced (``board``), compared cell by cell in one form (``values``), told (``report``)."""
