SELECT state, city, upper(substr(name, 1, 1)), count(*), min(id) FROM persons WHERE state IN ('OR', 'ID', 'CA') GROUP BY state, city, upper(substr(name, 1, 1))
