# Named date formats of the user pages in German ("Mo., 30. Nov., 14:05").
SHORT_DATETIME_FORMAT = "D., j. M., H:i"
DATETIME_FORMAT = "D., j. M., H:i:s"
SHORT_DATE_FORMAT = "D., j. M."
TIME_FORMAT = "H:i"
DATE_FORMAT = "j. M Y"
